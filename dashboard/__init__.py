"""The Panel dashboard of segments: explore a registered segmentation model with linked views.

Layout of the package (DESIGN §6, Panel's DataStore/Viewer pattern):

* ``i18n``: English and French strings and number formats.
* ``analysis``: pure computations behind the views (PCA projection, PSI, migration matrix, z-scores).
* ``store``: ``DataStore``, the one ``param.Parameterized`` object that owns the model, the customers,
  their labels, the projection and the selection.
* ``views``: thin ``pn.viewable.Viewer`` classes that render the store.
* ``app``: ``create_app`` and ``serve``, the entry points the CLI calls.

Nothing here creates widgets or calls ``pn.extension`` at import time.
"""
