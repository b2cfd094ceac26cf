/// AOTransportUV: the libuv TCP transport; the only importer of CLibUV.
