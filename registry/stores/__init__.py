"""Artifact stores behind one small interface (SPEC §6, docs/storage.md).

A store holds immutable objects addressed by content. :class:`Obj` names one object by both of
its digests; each store keys it its own way (the local store, S3 and lakeFS by SHA-256, DVC by
MD5 in DVC's layout). Bytes always stream (:meth:`Store.put` reads a file object in chunks,
:meth:`Store.open` returns one); no store holds a whole file in memory.

A directory is a tree: its member objects and a root object listing them (our manifest, or for
DVC its ``.dir`` listing), written by :meth:`Store.put_tree` and read back by :meth:`Store.tree`.

The interface is :mod:`registry.stores.base`; :mod:`registry.stores.urls` opens the store a
remote's URL names, importing its client library only then, so ``prov --help`` stays fast.
This ``__init__`` imports nothing: the CLI loads the local object store at start-up.
"""
