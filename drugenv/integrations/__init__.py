"""Adapters to training frameworks (TRL)."""
