// Cluster tests start silos, servers and real processes on a small machine; running them one
// collection at a time keeps failure-detection timings honest and the suite predictable.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
