"""xdtutorial: the code behind the extreme-deconvolution tutorial, one module per concern.

The notebooks import it through the front ``helpers.py``, which documents the
conventions and maps each notebook to its module.  Dependencies run one way::

    _numerics  <-  model  <-  data (no deps)
    model      <-  _em_fast  <-  em  <-  xd_libraries
    model      <-  posterior, plots
    data, model  <-  membership  <-  cluster_fit  <-  survey, catalogues
"""
