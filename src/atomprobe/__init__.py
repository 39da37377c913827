"""atomprobe: probe what atomistic machine-learning models encode.

Stages, in the order data flows (each a subpackage): ``data`` (structures → parquet),
``models`` (registry, families, training), ``features`` (hooks → per-atom features → pooling),
``cpd`` (composition projection and probes), ``analyses`` (isomers, control, sweeps, GFRE/LFRE,
similarity), ``render`` (tables, figures, reproduction report).
"""

__version__ = "0.1.0"
