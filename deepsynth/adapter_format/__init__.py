"""How an adapter lives on disk: its file names and model card (`files`), and the checks every
safetensors file passes before anything loads it (`safetensors_check`). Training writes this
format; export, import, the registry and inference read it; nothing else names these files.
"""
