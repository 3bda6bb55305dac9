"""The bottom layer: what every convolution needs before any product is computed.

Modules, each importing only those listed before it: ``errors`` (the
exceptions), ``validate`` (arguments, modes, boundaries, dtypes), ``budget``
(memory, refused before it is allocated), ``exact`` (integer sums exact or
refused: the ladder every integer product climbs), ``index`` (one axis's
geometry and index maps), ``plan`` (the plan of a matrix and its dtypes),
``taps`` (per-output sums of taps inside and outside the input), ``csr``
(CSR assembly), ``halo`` (the halos of dask blocks), ``spectra`` (spectra
and eigenvalue helpers). numpy and scipy only; nothing above is imported.
"""
