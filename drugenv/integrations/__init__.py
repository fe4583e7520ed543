"""Adapters to training frameworks (TRL)."""


__all__: list[str] = []
