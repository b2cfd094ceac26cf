/// AOStoreLMDB: the LMDB implementation of `ContentStore`; the only importer of CLMDB.
