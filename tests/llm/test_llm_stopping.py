"""One stop rule for training and evaluation samplers (Qwen2.5-Instruct has two end-of-turn tokens)."""

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from drugenv.llm.policy import HFGenerateBackend, SamplingConfig  # noqa: E402
from drugenv.llm.stopping import cut_at_stop, stop_token_ids  # noqa: E402


def test_stop_ids_union_tokenizer_and_generation_config():
    tok = SimpleNamespace(eos_token_id=2)
    assert stop_token_ids(tok, SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=[2, 7]))) == [2, 7]
    assert stop_token_ids(tok, SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=9))) == [2, 9]
    assert stop_token_ids(tok) == [2]
    with pytest.raises(ValueError, match="eos"):
        stop_token_ids(SimpleNamespace(eos_token_id=None))


def test_cut_at_stop_keeps_the_first_stop_token():
    assert cut_at_stop([5, 6, 7, 8, 2], [2, 7]) == ([5, 6, 7], True)
    assert cut_at_stop([5, 6], [2, 7]) == ([5, 6], False)
    assert cut_at_stop([], [2]) == ([], False)


class _FakeModel(torch.nn.Module):
    """Returns fixed completions; records the eos ids ``generate`` was asked to stop at."""

    def __init__(self, rows, vocab=12):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.rows, self.vocab, self.asked = rows, vocab, None
        self.generation_config = SimpleNamespace(eos_token_id=[2, 7])

    def generate(self, input_ids, attention_mask, **kw):
        self.asked = kw["eos_token_id"]
        seqs = torch.cat([input_ids, torch.tensor(self.rows)], dim=1)
        logits = tuple(torch.zeros(len(self.rows), self.vocab) for _ in self.rows[0])
        return SimpleNamespace(sequences=seqs, logits=logits)


def test_evaluation_sampler_stops_where_training_does():
    tok = SimpleNamespace(eos_token_id=2, pad_token_id=0, decode=lambda ids, skip_special_tokens: " ".join(map(str, ids)))
    model = _FakeModel([[5, 7, 9, 2], [5, 6, 8, 9]])
    gens = HFGenerateBackend(model, tok).generate([[1, 3], [1, 4]], SamplingConfig(temperature=0, max_new_tokens=4))
    assert model.asked == [2, 7]  # generate itself stops at either token
    assert gens[0].completion_ids == [5, 7] and gens[0].finish_reason == "stop" and len(gens[0].logprobs) == 2
    assert gens[1].completion_ids == [5, 6, 8, 9] and gens[1].finish_reason == "length"
