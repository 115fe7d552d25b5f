"""The torch/diffusers side of the engine.

Only modules in this package import torch, diffusers or transformers; the rest of ``generation``
(and the web app) must stay importable without them. Importing this package itself loads nothing.
"""
