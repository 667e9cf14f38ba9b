"""The runner: spec -> plan -> per subject (sample -> observe -> fold) -> gather -> judge -> report.

A run is a fold. Each subject starts from an empty ``SubjectState`` (``state.py``); the
sampling loop (``loop.py``) hands every batch to ``observe_batch`` (``observe.py``), which
adds the batch's per-requirement outcomes and the inputs the metrics read; sequential
looks (``looks.py``) may stop early; under torchrun the states of the processes are
merged (``gather.py``); ``judge.py`` turns the final state into verdicts and metric
values. Reference and training features live in ``references.py``, the device and
process group in ``environment.py``; ``orchestrate.py`` strings the steps together.

Where to hook in (one function each):
  * user code raising, per-subject limits: ``orchestrate.run_subject`` / ``loop.sample_loop``
  * checks on a batch's values before anything reads them: ``observe.screen_values``
  * per-batch progress: ``loop.progress``
  * work at the end of a subject (e.g. a sample store): ``orchestrate.measure_subject``
"""

from .environment import environment, init_distributed, pick_device, process_rank
from .orchestrate import execute, exit_code_of

__all__ = ["environment", "execute", "exit_code_of", "init_distributed", "pick_device", "process_rank"]
