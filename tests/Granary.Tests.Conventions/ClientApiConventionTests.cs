using System.Reflection;

namespace Granary.Tests.Conventions;

/// <summary>
/// The public surface of the Granary.Client package: every asynchronous method can be cancelled,
/// and nothing in it names a type from a server-only assembly (an application that takes the client
/// must never need the server's assemblies to call it).
/// </summary>
public sealed class ClientApiConventionTests
{
    private static readonly Assembly Client = Assembly.Load("Granary.Client");

    /// <summary>Assemblies only a silo loads: the host, the grains, Orleans' runtime and storage, the database driver.</summary>
    private static readonly string[] ServerOnly =
        ["Granary.Server", "Granary.Grains", "Orleans.Runtime", "Orleans.Server", "Orleans.Persistence.AdoNet", "Orleans.Reminders", "Npgsql"];

    /// <summary>
    /// The typed clients' methods written before this rule, which do not take a token yet. The list
    /// only shrinks: a new method without a token fails the test, and so does a listed method that
    /// gained one (remove it from the list).
    /// </summary>
    private static readonly HashSet<string> NotYetCancellable = new(StringComparer.Ordinal)
    {
        "Granary.Client.Caching.CacheClient.ConnectAsync",
        "Granary.Client.Caching.CacheClient.CreateAsync",
        "Granary.Client.Caching.CacheClient.DeleteAsync",
        "Granary.Client.Caching.CacheClient.ExecuteAsync",
        "Granary.Client.Caching.CacheClient.GetAsync",
        "Granary.Client.Caching.CacheClient.GetOrLoadAsync",
        "Granary.Client.Caching.CacheClient.GetShardStatisticsAsync",
        "Granary.Client.Caching.CacheClient.GetStatisticsAsync",
        "Granary.Client.Caching.CacheClient.InvalidateAsync",
        "Granary.Client.Caching.CacheClient.ReadThroughAsync",
        "Granary.Client.Caching.CacheClient.RefreshAsync",
        "Granary.Client.Caching.CacheClient.SetAsync",
        "Granary.Client.Caching.CacheClient.WriteBehindAsync",
        "Granary.Client.Caching.CacheClient.WriteThroughAsync",
        "Granary.Client.Diagnostics.StatsClient.GetAsync",
        "Granary.Client.Diagnostics.StatsClient.GetRawAsync",
        "Granary.Client.Locks.DistributedLocks.StatusAsync",
        "Granary.Client.Locks.LockHandle.ReleaseAsync",
        "Granary.Client.Locks.LockHandle.RenewAsync",
        "Granary.Client.Queues.QueueClient.AckAsync",
        "Granary.Client.Queues.QueueClient.AckManyAsync",
        "Granary.Client.Queues.QueueClient.CreateAsync",
        "Granary.Client.Queues.QueueClient.DequeueAsync",
        "Granary.Client.Queues.QueueClient.EnqueueAsync",
        "Granary.Client.Queues.QueueClient.EnqueueBatchAsync",
        "Granary.Client.Queues.QueueClient.ExtendAsync",
        "Granary.Client.Queues.QueueClient.InfoAsync",
        "Granary.Client.Queues.QueueClient.NackAsync",
        "Granary.Client.Queues.QueueClient.StatsAsync",
        "Granary.Client.Scheduling.TaskClient.CancelAsync",
        "Granary.Client.Scheduling.TaskClient.ChainAsync",
        "Granary.Client.Scheduling.TaskClient.ChordAsync",
        "Granary.Client.Scheduling.TaskClient.ConfigureQueueAsync",
        "Granary.Client.Scheduling.TaskClient.DeadLettersAsync",
        "Granary.Client.Scheduling.TaskClient.DeclareQueueAsync",
        "Granary.Client.Scheduling.TaskClient.GetAsync",
        "Granary.Client.Scheduling.TaskClient.GetPeriodicAsync",
        "Granary.Client.Scheduling.TaskClient.GetQueueAsync",
        "Granary.Client.Scheduling.TaskClient.GetWorkflowAsync",
        "Granary.Client.Scheduling.TaskClient.GroupAsync",
        "Granary.Client.Scheduling.TaskClient.ListPeriodicAsync",
        "Granary.Client.Scheduling.TaskClient.ListQueuesAsync",
        "Granary.Client.Scheduling.TaskClient.QueueAsync",
        "Granary.Client.Scheduling.TaskClient.RemovePeriodicAsync",
        "Granary.Client.Scheduling.TaskClient.RemoveQueueAsync",
        "Granary.Client.Scheduling.TaskClient.RetryDeadLetterAsync",
        "Granary.Client.Scheduling.TaskClient.ScheduleAsync",
        "Granary.Client.Scheduling.TaskClient.SubmitAsync",
        "Granary.Client.Scheduling.TaskClient.SubmitWithIdAsync",
        "Granary.Client.Scheduling.TaskClient.WorkersAsync",
        "Granary.Client.Transactions.TransactionClient.CheckoutAsync",
        "Granary.Client.Transactions.TransactionClient.RunAsync",
        "Granary.Client.Transactions.TransactionClient.RunFreshAsync",
        "Granary.Client.Transactions.TransactionClient.TransferAsync",
    };

    private static IEnumerable<MethodInfo> PublicMethods() =>
        ProductAssemblies.PublicTypes(Client)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => !m.IsSpecialName);

    private static bool IsAsync(Type type) =>
        type == typeof(Task) || type == typeof(ValueTask)
        || (type.IsGenericType && type.GetGenericTypeDefinition() is var d
            && (d == typeof(Task<>) || d == typeof(ValueTask<>) || d == typeof(IAsyncEnumerable<>)));

    /// <summary>
    /// Methods whose shape a standard interface fixes (IAsyncDisposable, IHostedService, IHealthCheck,
    /// IDistributedCache...): they take what the interface gives.
    /// </summary>
    private static bool ImplementsAnInterface(MethodInfo method) =>
        !method.IsStatic && method.DeclaringType!.GetInterfaces()
            .Where(i => !i.IsGenericType || !i.ContainsGenericParameters)
            .Any(i => method.DeclaringType.GetInterfaceMap(i).TargetMethods.Contains(method));

    [Fact]
    public void Every_public_async_method_takes_a_cancellation_token()
    {
        var methods = PublicMethods().Where(m => IsAsync(m.ReturnType) && !ImplementsAnInterface(m)).ToList();
        var missing = methods
            .Where(m => !m.GetParameters().Any(p => p.ParameterType == typeof(CancellationToken)))
            .Select(m => $"{m.DeclaringType!.FullName}.{m.Name}")
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.True(methods.Count > 20, $"only {methods.Count} public async methods found");
        var unlisted = missing.Where(m => !NotYetCancellable.Contains(m)).ToList();
        Assert.True(unlisted.Count == 0, $"{unlisted.Count} public async methods without a CancellationToken:\n" + string.Join('\n', unlisted));
        var fixedNow = NotYetCancellable.Where(m => !missing.Contains(m)).Order(StringComparer.Ordinal).ToList();
        Assert.True(fixedNow.Count == 0, "listed as not yet cancellable but no longer missing a token (remove them from the list):\n" + string.Join('\n', fixedNow));
    }

    [Fact]
    public void No_public_member_exposes_a_server_only_type()
    {
        static IEnumerable<Type> Expand(Type type) =>
            type.HasElementType ? Expand(type.GetElementType()!)
            : type.IsGenericType ? new[] { type }.Concat(type.GetGenericArguments().SelectMany(Expand))
            : [type];

        var exposed = new List<string>();
        foreach (var type in ProductAssemblies.PublicTypes(Client))
        {
            var members = type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly);
            var signatures = new List<(string Where, Type Type)>();
            if (type.BaseType is { } baseType)
            {
                signatures.Add((type.FullName!, baseType));
            }

            signatures.AddRange(type.GetInterfaces().Select(i => (type.FullName!, i)));
            foreach (var member in members)
            {
                var where = $"{type.FullName}.{member.Name}";
                switch (member)
                {
                    case MethodBase method:
                        signatures.AddRange(method.GetParameters().Select(p => (where, p.ParameterType)));
                        if (method is MethodInfo info)
                        {
                            signatures.Add((where, info.ReturnType));
                        }

                        break;
                    case PropertyInfo property:
                        signatures.Add((where, property.PropertyType));
                        break;
                    case FieldInfo field:
                        signatures.Add((where, field.FieldType));
                        break;
                    case EventInfo @event:
                        signatures.Add((where, @event.EventHandlerType!));
                        break;
                }
            }

            exposed.AddRange(signatures
                .SelectMany(s => Expand(s.Type).Select(t => (s.Where, Type: t)))
                .Where(s => ServerOnly.Contains(s.Type.Assembly.GetName().Name, StringComparer.Ordinal))
                .Select(s => $"{s.Where}: {s.Type.FullName} ({s.Type.Assembly.GetName().Name})"));
        }

        Assert.True(exposed.Count == 0, "public members of Granary.Client that name server-only types:\n" + string.Join('\n', exposed.Distinct()));
    }
}
