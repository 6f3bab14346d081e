"""The judge: each take of each shot scored for character and entity consistency, prompt fidelity and broken frames.

`tale_cli.judge.run` judges a run folder (`tale judge`); `tale_cli.pipeline.judging` retakes the shots below a recipe's
bar during `tale render`. Nothing here imports torch or an SDK at import time.
"""
