"""``drp-bench plan``: what a run or sweep will cost before anything runs.

Per job and stage: calls, calls already in the call cache, prompt tokens (the rendered prompts
counted with the model's own tokenizer where it is available), expected completion tokens
(the call cache's records for the model and stage, else ``max_tokens`` as an upper bound), and
the hours and GPU-hours they imply at a given throughput.
"""
