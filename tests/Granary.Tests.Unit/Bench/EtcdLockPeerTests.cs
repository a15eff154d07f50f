using Granary.Bench;
using Granary.Bench.Locks;

namespace Granary.Tests.Unit.Bench;

/// <summary>The bench's etcd lock peer against a real private etcd on free loopback ports.</summary>
public sealed class EtcdLockPeerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_etcd_peer_excludes_a_second_holder_until_the_first_releases_and_then_grants_it()
    {
        var settings = new BenchSettings(Concurrency: 2, Warmup: TimeSpan.Zero, Duration: TimeSpan.FromSeconds(1), ShowProgress: false);
        await using var peer = new EtcdLockBenchTarget(new LockWorkload(Contended: true), endpoint: null, settings);
        using var timeout = new CancellationTokenSource(Deadline * 2);
        await peer.SetupAsync(timeout.Token);

        var first = await peer.AcquireAsync(0, timeout.Token);
        var second = peer.AcquireAsync(1, timeout.Token);

        // etcd grants in one Raft round trip (milliseconds); a second holder would show well within this.
        var raced = await Task.WhenAny(second, Task.Delay(TimeSpan.FromMilliseconds(500), timeout.Token));
        Assert.NotSame(second, raced);

        await peer.ReleaseAsync(first, timeout.Token);
        var secondKey = await second.WaitAsync(Deadline, timeout.Token);
        Assert.NotEqual(first, secondKey);
        await peer.ReleaseAsync(secondKey, timeout.Token);

        // The benchmark operation itself: acquire and release, recorded in the grant log.
        await peer.ExecuteAsync(0, timeout.Token);
        await peer.ExecuteAsync(1, timeout.Token);
        peer.Log.StartMeasuring();
        await peer.ExecuteAsync(0, timeout.Token);
        Assert.Equal(1, peer.Log.Analyse().Grants);
    }

    [Fact]
    public async Task A_key_left_queued_by_a_window_is_removed_before_the_next_and_the_next_window_gets_the_lock()
    {
        var settings = new BenchSettings(Concurrency: 2, Warmup: TimeSpan.Zero, Duration: TimeSpan.FromSeconds(1), ShowProgress: false);
        await using var peer = new EtcdLockBenchTarget(new LockWorkload(Contended: true), endpoint: null, settings);
        using var timeout = new CancellationTokenSource(Deadline * 2);
        await peer.SetupAsync(timeout.Token);

        // Window 1 ends with caller 0 holding the lock (its release never came) and caller 1 queued
        // behind it, its call given up: the holder's key stays under its lease (etcd may or may not
        // have deleted the given-up waiter's key by then).
        await peer.AcquireAsync(0, timeout.Token);
        using (var windowEnd = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token))
        {
            var waiting = peer.AcquireAsync(1, windowEnd.Token);
            var raced = await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromMilliseconds(300), timeout.Token));
            Assert.NotSame(waiting, raced);
            await windowEnd.CancelAsync();
            await Assert.ThrowsAnyAsync<Exception>(() => waiting);
        }

        await peer.StopBackgroundAsync(timeout.Token);
        Assert.InRange(peer.LeftoverKeys, 1, 2);

        // Window 2 starts with fresh leases and an empty queue: the lock is granted at once.
        await peer.StartBackgroundAsync(timeout.Token);
        await peer.ExecuteAsync(1, timeout.Token).WaitAsync(Deadline, timeout.Token);
        await peer.ExecuteAsync(0, timeout.Token).WaitAsync(Deadline, timeout.Token);
    }
}
