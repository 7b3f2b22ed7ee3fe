"""Adapter packages: export (`package`), safe import (`safe_import`), merge (`merge`).

Light on import: torch, transformers and peft load inside the functions that need them.
"""
