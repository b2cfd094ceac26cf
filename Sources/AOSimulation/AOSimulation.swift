/// AOSimulation: many nodes in one thread over simulated transport, store and clock, with fault injection.
