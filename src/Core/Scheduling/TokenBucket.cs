namespace Granary.Scheduling;

/// <summary>
/// Token bucket: holds up to <see cref="Burst"/> tokens, refilled continuously at
/// <see cref="RatePerSecond"/>. One bucket per task type lives in one rate-limit grain, so the limit
/// holds across the whole cluster. Not thread-safe (a grain is single-threaded).
/// </summary>
/// <example><code>
/// var bucket = new TokenBucket(ratePerSecond: 10, burst: 10, now);
/// if (!bucket.TryTake(now, out var retryAfter)) { /* come back after retryAfter */ }
/// </code></example>
public sealed class TokenBucket
{
    private double _tokens;
    private DateTimeOffset _updated;

    /// <summary>Creates a full bucket.</summary>
    public TokenBucket(double ratePerSecond, int burst, DateTimeOffset now)
    {
        if (double.IsNaN(ratePerSecond) || ratePerSecond <= 0 || ratePerSecond > 1_000_000)
        {
            throw new TaskValidationException("ratePerSecond", "must be in (0, 1000000]");
        }

        if (burst < 1)
        {
            throw new TaskValidationException("burst", "must be at least 1");
        }

        RatePerSecond = ratePerSecond;
        Burst = burst;
        _tokens = burst;
        _updated = now;
    }

    /// <summary>Tokens added per second.</summary>
    public double RatePerSecond { get; }

    /// <summary>Most tokens held at once.</summary>
    public int Burst { get; }

    /// <summary>Tokens available at <paramref name="now"/>.</summary>
    public double Available(DateTimeOffset now)
    {
        Refill(now);
        return _tokens;
    }

    /// <summary>Takes one token if there is one; otherwise says how long until there will be.</summary>
    public bool TryTake(DateTimeOffset now, out TimeSpan retryAfter)
    {
        Refill(now);
        if (_tokens >= 1)
        {
            _tokens -= 1;
            retryAfter = TimeSpan.Zero;
            return true;
        }

        retryAfter = TimeSpan.FromSeconds((1 - _tokens) / RatePerSecond);
        return false;
    }

    private void Refill(DateTimeOffset now)
    {
        // A clock that steps back must not mint tokens.
        if (now <= _updated)
        {
            return;
        }

        _tokens = Math.Min(Burst, _tokens + ((now - _updated).TotalSeconds * RatePerSecond));
        _updated = now;
    }
}
