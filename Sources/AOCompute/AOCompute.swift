/// AOCompute: the WasmKit engine running AO loader-format modules; the only importer of WasmKit.
