namespace Granary;

/// <summary>Documented limits enforced on every request (README, "Limits").</summary>
public static class Limits
{
    /// <summary>Longest key or name, in characters: 256.</summary>
    public const int MaxKeyLength = 256;

    /// <summary>Longest value, in characters: 64 KiB.</summary>
    public const int MaxValueLength = 64 * 1024;

    /// <summary>Most items in one batch request: 1,000.</summary>
    public const int MaxBatchSize = 1_000;

    /// <summary>Cache shards: what one KEYS or SCAN call may cost, and how many near-caches a shard serves.</summary>
    public static class Caching
    {
        /// <summary>Longest KEYS or SCAN MATCH pattern, in characters: 512.</summary>
        public const int MaxPatternLength = 512;

        /// <summary>Most wildcards in a pattern (a run of <c>*</c> counts once, each <c>?</c> and <c>[...]</c> once): 64.</summary>
        public const int MaxPatternWildcards = 64;

        /// <summary>Most keys one SCAN call visits on a shard, whatever its COUNT: 1,000.</summary>
        public const int MaxScanCount = 1_000;

        /// <summary>Largest shard KEYS examines; on a larger one KEYS is refused (use SCAN): 100,000 keys.</summary>
        public const int MaxKeysPerKeysCommand = 100_000;

        /// <summary>Most near-cache subscriptions one shard holds: 10,000.</summary>
        public const int MaxSubscribersPerShard = 10_000;
    }
}
