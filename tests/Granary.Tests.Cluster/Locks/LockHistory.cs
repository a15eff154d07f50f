using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Granary.Tests.Cluster.Locks;

/// <summary>
/// Every lease as its holder saw it: from the moment the grant reached the client to the moment
/// just before the client asked to release. Grants of one lock must not overlap, and tokens must
/// increase in grant order.
/// </summary>
public sealed class LockHistory
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentBag<Entry> _entries = [];

    /// <summary>Now on the history's clock.</summary>
    public TimeSpan Now => _clock.Elapsed;

    /// <summary>Entries so far.</summary>
    public IReadOnlyList<Entry> Entries => _entries.OrderBy(e => e.GrantedAt).ToList();

    /// <summary>Records one lease.</summary>
    public void Record(string owner, long token, TimeSpan grantedAt, TimeSpan releasedAt) => _entries.Add(new Entry(owner, token, grantedAt, releasedAt));

    /// <summary>Pairs of leases whose intervals overlap.</summary>
    public IReadOnlyList<(Entry First, Entry Second)> Overlaps()
    {
        var sorted = Entries;
        var overlaps = new List<(Entry, Entry)>();
        var latest = sorted.Count > 0 ? sorted[0] : null;
        for (var i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].GrantedAt < latest!.ReleasedAt)
            {
                overlaps.Add((latest, sorted[i]));
            }

            if (sorted[i].ReleasedAt > latest.ReleasedAt)
            {
                latest = sorted[i];
            }
        }

        return overlaps;
    }

    /// <summary>Places where a later grant carries a token not above the earlier one.</summary>
    public int TokenOrderViolations()
    {
        var sorted = Entries;
        var violations = 0;
        for (var i = 1; i < sorted.Count; i++)
        {
            violations += sorted[i].Token > sorted[i - 1].Token ? 0 : 1;
        }

        return violations;
    }

    /// <summary>One lease.</summary>
    public sealed record Entry(string Owner, long Token, TimeSpan GrantedAt, TimeSpan ReleasedAt)
    {
        /// <inheritdoc/>
        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Owner} token {Token} [{GrantedAt.TotalMilliseconds:F1} ms, {ReleasedAt.TotalMilliseconds:F1} ms]");
    }
}
