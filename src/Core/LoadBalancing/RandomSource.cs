namespace Granary.LoadBalancing;

/// <summary>
/// Random numbers for the sampling strategies: <see cref="Random.Shared"/> (thread-safe) by
/// default, or a caller's seeded <see cref="Random"/> behind a lock so tests are repeatable.
/// </summary>
internal sealed class RandomSource
{
    private readonly Random? _seeded;
    private readonly Lock _lock = new();

    public RandomSource(Random? random) => _seeded = random;

    /// <summary>Two distinct indexes in [0, <paramref name="count"/>), count at least 2.</summary>
    public (int First, int Second) TwoDistinct(int count)
    {
        if (_seeded is null)
        {
            return Draw(Random.Shared, count);
        }

        lock (_lock)
        {
            return Draw(_seeded, count);
        }
    }

    private static (int, int) Draw(Random random, int count)
    {
        var first = random.Next(count);
        var second = random.Next(count - 1);
        if (second >= first)
        {
            second++;
        }

        return (first, second);
    }
}
