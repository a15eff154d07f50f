using System.Collections.Concurrent;

namespace Granary.Client.Locks;

/// <summary>
/// One timer for every lease held through a <see cref="DistributedLocks"/>: each tick lets each
/// held lease renew when due or notice its local expiry. A timer, a cancellation source and a loop
/// per lease cost more than the rest of an acquire and release on the client, and most leases are
/// released long before their first renewal. The tick is a twelfth of the shortest ttl seen
/// (between 5 ms and 1 s), so a renewal due at a third of the ttl runs at most a twelfth late.
/// The timer stops when no lease is held and starts again with the next one.
/// </summary>
internal sealed class LeaseRenewals(TimeProvider time)
{
    private static readonly TimeSpan ShortestTick = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan LongestTick = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<LockHandle, byte> _held = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _gate = new();
    private ITimer? _timer;
    private long _tickTicks = long.MaxValue;
    private int _ticking;

    /// <summary>Starts watching <paramref name="handle"/>.</summary>
    public void Add(LockHandle handle, TimeSpan ttl)
    {
        _held.TryAdd(handle, 0);
        var tick = ttl / 12;
        tick = tick < ShortestTick ? ShortestTick : tick > LongestTick ? LongestTick : tick;
        if (Volatile.Read(ref _timer) is null || tick.Ticks < Volatile.Read(ref _tickTicks))
        {
            EnsureTimer(tick);
        }
    }

    /// <summary>Stops watching <paramref name="handle"/>.</summary>
    public void Remove(LockHandle handle) => _held.TryRemove(handle, out _);

    private void EnsureTimer(TimeSpan tick)
    {
        lock (_gate)
        {
            if (_timer is null)
            {
                _tickTicks = tick.Ticks;
                Volatile.Write(ref _timer, time.CreateTimer(static state => ((LeaseRenewals)state!).Tick(), this, tick, tick));
            }
            else if (tick.Ticks < _tickTicks)
            {
                _tickTicks = tick.Ticks;
                _timer.Change(tick, tick);
            }
        }
    }

    private void Tick()
    {
        // A slow tick is not overlapped by the next one.
        if (Interlocked.Exchange(ref _ticking, 1) == 1)
        {
            return;
        }

        try
        {
            var now = time.GetTimestamp();
            foreach (var held in _held)
            {
                held.Key.OnTick(now);
            }

            if (_held.IsEmpty)
            {
                StopWhenIdle();
            }
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }

    private void StopWhenIdle()
    {
        lock (_gate)
        {
            if (!_held.IsEmpty || _timer is null)
            {
                return;
            }

            _timer.Dispose();
            Volatile.Write(ref _timer, null);
            _tickTicks = long.MaxValue;
        }

        // A lease added while the timer was being stopped may have seen it still running (and
        // not said how short its tick must be): restart at the shortest tick; the timer slows
        // down again the next time it stops.
        if (!_held.IsEmpty)
        {
            EnsureTimer(ShortestTick);
        }
    }
}
