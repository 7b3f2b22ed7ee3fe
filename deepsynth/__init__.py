"""DeepSynth: render documents to page images and fine-tune document-reading models with LoRA.

The package is importable without torch: configuration, presets, rendering and the estimator are
plain Python; heavy libraries (torch, transformers, peft, mlflow) are imported where they are used.
The package never imports streamlit: the dashboard is one client of this library.
"""

__version__ = "0.1.0"
