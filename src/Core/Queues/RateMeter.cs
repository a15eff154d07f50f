namespace Granary.Queues;

/// <summary>Events per second over a sliding window of one-second buckets, on an injected clock.</summary>
public sealed class RateMeter
{
    private readonly TimeProvider _time;
    private readonly long[] _buckets;
    private readonly long[] _bucketSecond;

    /// <summary>Creates a meter averaging over <paramref name="windowSeconds"/> seconds.</summary>
    public RateMeter(TimeProvider time, int windowSeconds = 10)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThan(windowSeconds, 1);
        _time = time;
        _buckets = new long[windowSeconds];
        _bucketSecond = new long[windowSeconds];
    }

    /// <summary>Records <paramref name="count"/> events now.</summary>
    public void Add(long count = 1)
    {
        var second = _time.GetUtcNow().ToUnixTimeSeconds();
        var slot = (int)(second % _buckets.Length);
        if (_bucketSecond[slot] != second)
        {
            _bucketSecond[slot] = second;
            _buckets[slot] = 0;
        }

        _buckets[slot] += count;
    }

    /// <summary>Average events per second over the window (completed seconds and the current one).</summary>
    public double PerSecond()
    {
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        long total = 0;
        for (var i = 0; i < _buckets.Length; i++)
        {
            if (now - _bucketSecond[i] < _buckets.Length)
            {
                total += _buckets[i];
            }
        }

        return (double)total / _buckets.Length;
    }
}
