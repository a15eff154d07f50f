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
}
