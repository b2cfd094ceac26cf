/// AOStore: the `ContentStore` protocol (the permaweb replica seam) and its in-memory double.
