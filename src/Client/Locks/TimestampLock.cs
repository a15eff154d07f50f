namespace Granary.Cli.Locks;

/// <summary>
/// The timestamp-comparing Redis lock of a common textbook answer, faithfully: <c>SET key "{unix seconds}:{key}" NX EX timeout</c> to
/// acquire; to release, <c>GET</c> the value and <c>DEL</c> the key if its timestamp equals the
/// current second. The value says nothing about who holds the lock, so a client whose lock expired
/// deletes the lock of whoever acquired it in the same second. Runs against
/// <see cref="ExpiringStore"/>, an in-process stand-in for those three Redis commands with a clock
/// the scenario controls.
/// </summary>
public sealed class TimestampLock(ExpiringStore redis, string key, TimeSpan timeout)
{
    /// <summary><c>SET key value NX EX timeout</c>.</summary>
    public bool Acquire() => redis.SetNx(key, $"{redis.UnixSeconds}:{key}", timeout);

    /// <summary>Its release: deletes the key if its timestamp is the current second, whoever set it.</summary>
    public bool Release()
    {
        var value = redis.Get(key);
        if (value is null)
        {
            return false;
        }

        var lockTime = long.Parse(value.AsSpan(0, value.IndexOf(':', StringComparison.Ordinal)), System.Globalization.CultureInfo.InvariantCulture);
        return lockTime == redis.UnixSeconds && redis.Delete(key);
    }
}

/// <summary>SET NX EX / GET / DEL over a dictionary, with a manually advanced clock.</summary>
public sealed class ExpiringStore(DateTimeOffset start)
{
    private readonly Dictionary<string, (string Value, DateTimeOffset ExpiresAt)> _data = new(StringComparer.Ordinal);

    /// <summary>The store's clock.</summary>
    public DateTimeOffset Now { get; private set; } = start;

    /// <summary>Current Unix time in whole seconds (Python's <c>int(time.time())</c>).</summary>
    public long UnixSeconds => Now.ToUnixTimeSeconds();

    /// <summary>Moves the clock on.</summary>
    public void Advance(TimeSpan by) => Now += by;

    /// <summary>SET NX EX.</summary>
    public bool SetNx(string key, string value, TimeSpan expiry)
    {
        if (Get(key) is not null)
        {
            return false;
        }

        _data[key] = (value, Now + expiry);
        return true;
    }

    /// <summary>GET.</summary>
    public string? Get(string key) => _data.TryGetValue(key, out var entry) && entry.ExpiresAt > Now ? entry.Value : null;

    /// <summary>DEL.</summary>
    public bool Delete(string key) => _data.Remove(key);
}
