/// AOScheduling: the pure Raft-style election and slot-assignment cores.
