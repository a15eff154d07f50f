namespace Granary.Diagnostics;

/// <summary>
/// A small log-bucketed histogram of durations in milliseconds: eight buckets per power of two from
/// 1 µs up, so a percentile read from it is within about 9% of the exact value. Buckets are kept
/// sparse (index -> count), which makes snapshots cheap to send and to merge across silos.
/// Not thread-safe: callers serialise access.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>Buckets per doubling.</summary>
    public const int BucketsPerOctave = 8;

    private const double MinimumMicroseconds = 1.0;
    private readonly Dictionary<int, long> _buckets = [];

    /// <summary>Recorded values.</summary>
    public long Count { get; private set; }

    /// <summary>Sum of the recorded values (ms).</summary>
    public double Sum { get; private set; }

    /// <summary>Largest recorded value (ms); 0 when empty.</summary>
    public double Max { get; private set; }

    /// <summary>The sparse buckets (index -> count).</summary>
    public IReadOnlyDictionary<int, long> Buckets => _buckets;

    /// <summary>Records one duration in milliseconds (negative and NaN values count as 0).</summary>
    public void Record(double milliseconds)
    {
        var value = double.IsNaN(milliseconds) || milliseconds < 0 ? 0 : milliseconds;
        var index = IndexOf(value);
        _buckets[index] = _buckets.GetValueOrDefault(index) + 1;
        Count++;
        Sum += value;
        if (value > Max)
        {
            Max = value;
        }
    }

    /// <summary>Adds another histogram's buckets, count, sum and max.</summary>
    public void Merge(IReadOnlyDictionary<int, long> buckets, long count, double sum, double max)
    {
        ArgumentNullException.ThrowIfNull(buckets);
        foreach (var (index, n) in buckets)
        {
            _buckets[index] = _buckets.GetValueOrDefault(index) + n;
        }

        Count += count;
        Sum += sum;
        Max = Math.Max(Max, max);
    }

    /// <summary>
    /// The value at quantile <paramref name="q"/> (0..1): the upper edge of the bucket holding it,
    /// never above <see cref="Max"/>; 0 when empty.
    /// </summary>
    public double Percentile(double q)
    {
        if (Count == 0)
        {
            return 0;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(q, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(q, 1);
        var rank = Math.Max(1, (long)Math.Ceiling(q * Count));
        long seen = 0;
        foreach (var index in _buckets.Keys.Order())
        {
            seen += _buckets[index];
            if (seen >= rank)
            {
                return Math.Min(UpperEdge(index), Max);
            }
        }

        return Max;
    }

    /// <summary>Forgets everything.</summary>
    public void Clear()
    {
        _buckets.Clear();
        Count = 0;
        Sum = 0;
        Max = 0;
    }

    /// <summary>The bucket a value falls in (values at or below 1 µs share bucket 0).</summary>
    public static int IndexOf(double milliseconds)
    {
        var micros = milliseconds * 1000.0;
        if (micros <= MinimumMicroseconds)
        {
            return 0;
        }

        return (int)Math.Ceiling(Math.Log2(micros / MinimumMicroseconds) * BucketsPerOctave);
    }

    /// <summary>The largest value (ms) that falls in bucket <paramref name="index"/>.</summary>
    public static double UpperEdge(int index) => MinimumMicroseconds * Math.Pow(2, index / (double)BucketsPerOctave) / 1000.0;
}
