"""Evaluation: sandboxed execution of generated code (`codelm.eval.sandbox`),
benchmark tasks, metrics and the harness that ties them together.

Submodules are imported on demand so `import codelm.eval` stays cheap.
"""
