"""`python -m avel report`: the runs behind RESULTS.md and its rendering.

plan (which runs) -> run (train the missing ones, resumable, shareable between processes) ->
results (read finished runs, evaluate what the report shows) -> figures, render (RESULTS.md).
cli ties them together.
"""
