"""P2P shifts and conversations: batches, first texts, threads, the live inbox, reclaim."""
