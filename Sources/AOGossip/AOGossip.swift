/// AOGossip: the pure gossip core (topics, mesh, seen cache, IHAVE/IWANT, scoring).
