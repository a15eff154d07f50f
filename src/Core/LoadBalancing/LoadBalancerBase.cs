using System.Collections.Immutable;

namespace Granary.LoadBalancing;

/// <summary>
/// Membership, health and in-flight/latency bookkeeping shared by every strategy, so a strategy
/// only decides which healthy member to pick. Readers never lock: membership and health changes
/// publish a new immutable table, and <see cref="SelectCore"/> sees one consistent healthy list.
/// </summary>
public abstract class LoadBalancerBase : ILoadBalancer
{
    /// <summary>Default weight of the newest latency sample in the moving average.</summary>
    public const double DefaultLatencySmoothing = 0.3;

    private readonly Lock _writeLock = new();
    private readonly double _latencySmoothing;
    private volatile MemberTable _table = MemberTable.Empty;
    private int _rotation;

    /// <summary>Creates a balancer with no members.</summary>
    /// <param name="name">The strategy name.</param>
    /// <param name="latencySmoothing">Weight of the newest sample in the latency average, in (0, 1]; 1 keeps only the last call.</param>
    protected LoadBalancerBase(string name, double latencySmoothing = DefaultLatencySmoothing)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (double.IsNaN(latencySmoothing) || latencySmoothing <= 0.0 || latencySmoothing > 1.0)
        {
            throw new ArgumentOutOfRangeException(nameof(latencySmoothing), latencySmoothing, "Latency smoothing must be in (0, 1].");
        }

        Name = name;
        _latencySmoothing = latencySmoothing;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public IReadOnlyList<BalancerMember> Members => _table.Members;

    /// <summary>Weight of the newest sample in the latency average.</summary>
    public double LatencySmoothing => _latencySmoothing;

    /// <inheritdoc />
    public string? Select(BalancerContext context = default)
    {
        var healthy = _table.Healthy;
        return healthy.IsEmpty ? null : SelectCore(context, healthy).Id;
    }

    /// <inheritdoc />
    public void OnStart(string memberId)
    {
        ArgumentNullException.ThrowIfNull(memberId);
        if (_table.ById.TryGetValue(memberId, out var member))
        {
            member.Start();
        }
    }

    /// <inheritdoc />
    public void OnComplete(string memberId, TimeSpan latency, bool success)
    {
        ArgumentNullException.ThrowIfNull(memberId);
        if (_table.ById.TryGetValue(memberId, out var member))
        {
            member.Complete(latency, success, _latencySmoothing);
        }
    }

    /// <inheritdoc />
    public void SetMembers(IReadOnlyList<BalancerMember> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in members)
        {
            if (member is null)
            {
                throw new ArgumentException("Members must not contain null.", nameof(members));
            }

            if (!seen.Add(member.Id))
            {
                throw new ArgumentException($"Member '{member.Id}' appears twice.", nameof(members));
            }
        }

        lock (_writeLock)
        {
            var old = _table.ById;
            var states = ImmutableArray.CreateBuilder<BalancerMemberState>(members.Count);
            foreach (var member in members)
            {
                if (old.TryGetValue(member.Id, out var state))
                {
                    state.SetWeight(member.Weight);
                }
                else
                {
                    state = new BalancerMemberState(member.Id, member.Weight);
                }

                states.Add(state);
            }

            _table = new MemberTable([.. members], states.MoveToImmutable());
        }
    }

    /// <inheritdoc />
    public bool SetHealth(string memberId, bool healthy)
    {
        ArgumentNullException.ThrowIfNull(memberId);
        lock (_writeLock)
        {
            var table = _table;
            if (!table.ById.TryGetValue(memberId, out var member))
            {
                return false;
            }

            if (member.IsHealthy != healthy)
            {
                member.SetHealthy(healthy);
                _table = new MemberTable(table.Members, table.All);
            }

            return true;
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<BalancerMemberStatus> GetStatus() => [.. _table.All.Select(m => m.ToStatus())];

    /// <summary>
    /// Picks one of <paramref name="healthy"/>, which is never empty. The array is replaced (a new
    /// instance) whenever membership, weights or health change, so strategies may cache derived
    /// structures keyed on it.
    /// </summary>
    protected abstract BalancerMemberState SelectCore(BalancerContext context, ImmutableArray<BalancerMemberState> healthy);

    /// <summary>A shared, ever-increasing counter for rotation and tie-breaking.</summary>
    protected uint NextRotation() => unchecked((uint)Interlocked.Increment(ref _rotation) - 1u);

    /// <summary>The next rotation position in [0, <paramref name="count"/>).</summary>
    protected int NextOffset(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return (int)(NextRotation() % (uint)count);
    }

    private sealed class MemberTable
    {
        public static readonly MemberTable Empty = new([], []);

        public MemberTable(IReadOnlyList<BalancerMember> members, ImmutableArray<BalancerMemberState> all)
        {
            Members = members;
            All = all;
            Healthy = [.. all.Where(m => m.IsHealthy)];
            ById = all.ToDictionary(m => m.Id, StringComparer.Ordinal);
        }

        public IReadOnlyList<BalancerMember> Members { get; }

        public ImmutableArray<BalancerMemberState> All { get; }

        public ImmutableArray<BalancerMemberState> Healthy { get; }

        public Dictionary<string, BalancerMemberState> ById { get; }
    }
}
