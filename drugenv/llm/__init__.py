"""The LLM agent interface: prompts, action parsing, HF policy, tiny offline models, run-agent.

Heavy dependencies (torch, transformers, peft) are imported lazily inside the functions that
need them, so ``import drugenv.llm`` stays cheap.
"""


__all__: list[str] = []
