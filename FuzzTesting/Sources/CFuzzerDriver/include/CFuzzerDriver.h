#include <stddef.h>
#include <stdint.h>
/* libFuzzer's driver (linked in by -sanitize=fuzzer). Each fuzz target's main.swift calls it with its callback, so
   the executable keeps SwiftPM's own entry point and libFuzzer still runs the loop. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
