using System.Collections.Concurrent;
using System.Reflection;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Client.Transactions;
using Granary.Errors;
using Granary.Queues;
using Granary.Security;
using Granary.Server.Security;
using Granary.Tests.Cluster.Foundation;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Security;

/// <summary>
/// The wall between client calls and internal calls, seen from a client of a three-silo cluster:
/// every method marked <see cref="Permission.Internal"/> is refused with <c>PERMISSION_DENIED</c> and
/// counted; the attacks that used them (money from a made-up prepare and commit or a saga credit, a
/// cache shard emptied by an export for an invented ring) change nothing; Orleans' own methods are
/// closed to clients except the listed ones; a grain's call to a client observer carries no proof.
/// </summary>
[Collection(FastClusterCollection.Name)]
public sealed class InternalMethodWallTests(FastClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Every_internal_method_called_from_a_client_is_refused_with_PERMISSION_DENIED_and_counted()
    {
        using var denials = new CounterByTag(SecurityMetrics.MeterName, "granary.security.denied_calls", "method");
        var methods = InternalMethods().ToList();
        var families = methods.Select(m => m.DeclaringType!.Namespace!).Distinct().ToList();
        Assert.Superset(new HashSet<string> { "Granary.Caching", "Granary.Queues", "Granary.Transactions", "Granary.Scheduling", "Granary.Diagnostics" }, families.ToHashSet());

        var wrong = new List<string>();
        foreach (var method in methods)
        {
            var name = $"{method.DeclaringType!.FullName}.{method.Name}";
            var before = denials.For(name);
            var grain = GrainFor(fixture.Grains, method.DeclaringType!);
            var call = (Task)method.Invoke(grain, [.. method.GetParameters().Select(p => Dummy(p.ParameterType))])!;
            if (method.IsDefined(typeof(OneWayAttribute)))
            {
                // No answer comes back: the silo's counter shows the refusal.
                await call;
            }
            else
            {
                try
                {
                    await call;
                    wrong.Add($"{name}: ran");
                }
                catch (PermissionDeniedException error) when (error.Code == ErrorCodes.PermissionDenied && error.Method == name && error.Permission == Permission.Internal)
                {
                }
                catch (Exception error)
                {
                    wrong.Add($"{name}: {error.GetType().Name}: {error.Message}");
                    continue;
                }
            }

            await Eventually.TrueAsync($"the refusal of {name} counted", () => denials.For(name) > before, Deadline);
        }

        output.WriteLine($"{methods.Count} internal methods of {families.Count} families refused: {string.Join(", ", families)}");
        Assert.True(wrong.Count == 0, "internal methods a client could call or that failed otherwise:\n" + string.Join('\n', wrong));
    }

    [Fact]
    public async Task A_made_up_prepare_and_commit_and_a_saga_credit_from_a_client_are_refused_and_no_money_appears()
    {
        var alice = fixture.Grains.GetGrain<IAccountGrain>(Unique("alice"));
        var bob = fixture.Grains.GetGrain<IAccountGrain>(Unique("bob"));
        await alice.OpenAsync(1_000);
        await bob.OpenAsync(1_000);
        var madeUp = TransactionClient.NewId();

        await AssertRefusedAsync(() => alice.PrepareAsync(madeUp, new Credit(5_000)));
        await AssertRefusedAsync(() => alice.CommitAsync(madeUp));
        await AssertRefusedAsync(() => bob.RunSagaActionAsync($"{Unique("saga")}/0:credit", new Credit(5_000)));

        Assert.Equal(1_000, (await alice.GetAsync()).Balance);
        Assert.Equal(1_000, (await bob.GetAsync()).Balance);
        Assert.Equal(0, (await alice.GetAsync()).PendingCredits);
        Assert.Empty(await alice.GetTransactionsAsync());
        Assert.Null(await alice.GetTransactionAsync(madeUp));
    }

    [Fact]
    public async Task An_export_for_an_invented_ring_version_from_a_client_is_refused_and_every_key_stays_readable()
    {
        var name = Unique("wall-cache");
        await using var cache = await CacheClient.CreateAsync(fixture.Grains, name, 2, new CacheSettings());
        var keys = Enumerable.Range(0, 20).Select(i => "k" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        foreach (var key in keys)
        {
            await cache.SetAsync(key, "v-" + key);
        }

        var definition = await fixture.Grains.GetGrain<ICacheDefinitionGrain>(name).GetAsync();
        var invented = definition with { Shards = 1, Version = 1_000_001 };
        for (var shard = 0; shard < definition.Shards; shard++)
        {
            var grain = fixture.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(name, shard));
            await AssertRefusedAsync(() => grain.ExportMovedAsync(invented));
            await AssertRefusedAsync(() => grain.ImportAsync([new CacheEntryExport("k0", 0, ["forged"], 0)]));
            await AssertRefusedAsync(() => grain.DeactivateAsync());
        }

        foreach (var key in keys)
        {
            Assert.Equal("v-" + key, await cache.GetAsync(key));
        }
    }

    [Fact]
    public async Task Orleans_methods_are_closed_to_clients_except_the_listed_cluster_views()
    {
        var management = fixture.Grains.GetGrain<IManagementGrain>(0);
        Assert.NotEmpty(await management.GetHosts(onlyActive: true));
        var refused = await Assert.ThrowsAsync<PermissionDeniedException>(() => management.ForceActivationCollection(TimeSpan.Zero));
        Assert.Equal(ErrorCodes.PermissionDenied, refused.Code);
        await AssertRefusedAsync(() => management.GetActiveGrains(GrainType.Create("granary.caching.shard")).AsTask());

        // From inside a silo the same call is a call between silos.
        Assert.NotNull(await fixture.SiloGrains.GetGrain<IManagementGrain>(0).GetActiveGrains(GrainType.Create("granary.caching.shard")));
    }

    [Fact]
    public async Task A_grains_call_to_a_client_observer_carries_no_cluster_proof()
    {
        var name = Unique("wall-observed");
        await using var cache = await CacheClient.CreateAsync(fixture.Grains, name, 1, new CacheSettings());
        var observer = new RecordingObserver();
        var reference = fixture.Cluster.Client.CreateObjectReference<ICacheInvalidationObserver>(observer);
        var shard = fixture.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(name, 0));
        await shard.SubscribeAsync(reference);

        await cache.SetAsync("k", "v");

        await Eventually.TrueAsync("the shard's invalidation notice arrived", () => !observer.Contexts.IsEmpty, Deadline);
        Assert.All(observer.Contexts, keys => Assert.DoesNotContain(ClusterProof.RequestContextKey, keys));
        fixture.Cluster.Client.DeleteObjectReference<ICacheInvalidationObserver>(reference);
    }

    [Fact]
    public async Task An_observer_of_code_inside_a_silo_still_gets_the_grains_notices()
    {
        // The silo's own client runs the silo's call filters on its observers: the wall must let grains' calls to them through.
        var name = Unique("wall-in-silo");
        var silo = fixture.Cluster.Silos.OfType<InProcessSiloHandle>().First(s => s.IsActive).SiloHost.Services.GetRequiredService<IClusterClient>();
        await using var cache = await CacheClient.CreateAsync(silo, name, 1, new CacheSettings());
        var observer = new RecordingObserver();
        var reference = silo.CreateObjectReference<ICacheInvalidationObserver>(observer);
        await silo.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(name, 0)).SubscribeAsync(reference);

        await cache.SetAsync("k", "v");

        await Eventually.TrueAsync("the shard's invalidation notice reached the in-silo observer", () => !observer.Contexts.IsEmpty, Deadline);
        silo.DeleteObjectReference<ICacheInvalidationObserver>(reference);
    }

    private static async Task AssertRefusedAsync(Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<PermissionDeniedException>(call);
        Assert.Equal(ErrorCodes.PermissionDenied, error.Code);
    }

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>The internal methods of the contracts' grain interfaces (observers live on clients: no silo receives their calls).</summary>
    private static IEnumerable<MethodInfo> InternalMethods() =>
        typeof(ICacheShardGrain).Assembly.GetExportedTypes()
            .Where(t => t.IsInterface && typeof(IAddressable).IsAssignableFrom(t) && !typeof(IGrainObserver).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Where(m => GrainPermissions.Of(m) == Permission.Internal);

    /// <summary>A reference to a grain that has <paramref name="declaring"/> (a base interface through its first derived grain interface), with a key of the form its grain expects.</summary>
    private static IAddressable GrainFor(IGrainFactory grains, Type declaring)
    {
        var callable = declaring.Assembly.GetExportedTypes()
            .Where(t => t.IsInterface && t != declaring && declaring.IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .FirstOrDefault() ?? declaring;
        if (typeof(IGrainWithIntegerKey).IsAssignableFrom(callable))
        {
            return grains.GetGrain(callable, 0L);
        }

        var name = Unique("wall");
        var key = callable == typeof(ICacheShardGrain) ? CacheDefinition.ShardKey(name, 0)
            : callable == typeof(IQueuePartitionGrain) ? QueuePlacement.PartitionKey(name, 0)
            : callable == typeof(Granary.Scheduling.ISchedulerGrain) ? name + "/0"
            : callable == typeof(Granary.Scheduling.IWorkerGrain) ? name + "/w"
            : name;
        return grains.GetGrain(callable, key);
    }

    /// <summary>An argument for a call that must be refused before it runs: a plain value of the type.</summary>
    private static object? Dummy(Type type) =>
        type == typeof(string) ? "wall-probe"
        : type.IsArray ? Array.CreateInstance(type.GetElementType()!, 0)
        : type.IsValueType ? Activator.CreateInstance(type)
        : null;

    private sealed class RecordingObserver : ICacheInvalidationObserver
    {
        public ConcurrentQueue<string[]> Contexts { get; } = new();

        public Task InvalidatedAsync(CacheInvalidation notice)
        {
            Contexts.Enqueue([.. RequestContext.Keys]);
            return Task.CompletedTask;
        }
    }
}
