"""The Panel dashboard of segments: explore a registered segmentation model with linked views.

Panel's DataStore/Viewer pattern: ``store.DataStore`` owns the model, the customers and the filter;
the views (``views``, ``linked_views``, ``table_view``, ``version_views``, on ``viewer.StoreViewer``)
render it; ``app`` serves the page. docs/architecture.md ("The dashboard") lists every module.

Nothing here creates widgets or calls ``pn.extension`` at import time.
"""
