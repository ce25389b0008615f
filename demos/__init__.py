"""User-facing front ends: the `sgt` command line and the Gradio demo."""
