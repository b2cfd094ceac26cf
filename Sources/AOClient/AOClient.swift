/// AOClient: the light client (HTTP calls to nodes, verification of what they answer).
