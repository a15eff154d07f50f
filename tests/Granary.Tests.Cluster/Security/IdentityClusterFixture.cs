using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using Granary.Client.Security;
using Granary.Security;
using Granary.Server.Security;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Security;

/// <summary>
/// One silo over TCP with identities configured: for every grantable permission an identity holding
/// only it (<c>only-cache.read</c>) and one holding every other (<c>all-but-cache.read</c>), an
/// operator holding <c>*</c> (its token in a file, as <c>scripts/cluster.sh</c> configures it) and an
/// auditor used only by the audit test. The test cluster's own client carries no credential: tests
/// attach a token per call (<see cref="As{T}"/>).
/// </summary>
public sealed class IdentityClusterFixture : GranaryTestClusterFixture
{
    private readonly Dictionary<string, string> _tokens = new(StringComparer.Ordinal);

    /// <summary>Name of the identity holding every permission (token in <see cref="OperatorTokenFile"/>).</summary>
    public const string Operator = "operator";

    /// <summary>An identity with every permission whose calls only the audit test makes (its counters are its own).</summary>
    public string Auditor { get; } = "auditor-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>The operator's token file.</summary>
    public string OperatorTokenFile { get; } = Path.Combine(Path.GetTempPath(), "granary-operator-" + Guid.NewGuid().ToString("N")[..8] + ".token");

    /// <summary>The identity of <see cref="IdentityCertificates.Subject"/> under the test CA (holds <c>lock:use</c>).</summary>
    public const string CertificateUser = "cert-user";

    /// <summary>The identity of the pinned self-signed certificate (holds <c>lock:use</c>).</summary>
    public const string PinnedUser = "pinned-user";

    /// <summary>The client certificates.</summary>
    public IdentityCertificates Certificates { get; } = new();

    /// <summary>Runs <paramref name="call"/> with a certificate assertion attached, as the client's certificate filter attaches it.</summary>
    public static async Task<T> WithAssertion<T>(byte[] assertion, Func<Task<T>> call)
    {
        ArgumentNullException.ThrowIfNull(call);
        RequestContext.Set(ClientCredentials.AssertionKey, assertion);
        return await call();
    }

    /// <summary>The token of identity <paramref name="name"/>.</summary>
    public string TokenOf(string name) => _tokens[name];

    /// <summary>The identity holding only <paramref name="permission"/>.</summary>
    public static string Only(Permission permission) => "only-" + PermissionNames.NameOf(permission).Replace(':', '.');

    /// <summary>The identity holding every permission but <paramref name="permission"/>.</summary>
    public static string AllBut(Permission permission) => "all-but-" + PermissionNames.NameOf(permission).Replace(':', '.');

    /// <summary>Runs <paramref name="call"/> with <paramref name="token"/> attached (null: none), as the client's credential filter attaches it.</summary>
    public static async Task<T> As<T>(string? token, Func<Task<T>> call)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (token is not null)
        {
            RequestContext.Set(ClientCredentials.TokenKey, token);
        }

        return await call();
    }

    /// <summary>The probe of the primary silo (what grain code saw in the request context).</summary>
    public CredentialProbe Probe =>
        (Cluster.Primary as InProcessSiloHandle ?? throw new InvalidOperationException("the primary silo is not in process"))
            .SiloHost.Services.GetRequiredService<CredentialProbe>();

    /// <inheritdoc/>
    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        File.Delete(OperatorTokenFile);
        Certificates.Dispose();
    }

    /// <inheritdoc/>
    protected override short InitialSilos => 1;

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        var index = 0;
        foreach (var permission in PermissionNames.Grantable)
        {
            Add(builder, ref index, Only(permission), [PermissionNames.NameOf(permission)]);
            Add(builder, ref index, AllBut(permission), [.. PermissionNames.Grantable.Where(p => p != permission).Select(PermissionNames.NameOf)]);
        }

        Add(builder, ref index, Auditor, ["*"]);
        var token = NewToken();
        _tokens[Operator] = token;
        File.WriteAllText(OperatorTokenFile, token + "\n");
        Set(builder, index, "Name", Operator);
        Set(builder, index, "Permissions:0", "*");
        Set(builder, index, "TokenFile", OperatorTokenFile);
        index++;
        Set(builder, index, "Name", CertificateUser);
        Set(builder, index, "Permissions:0", "lock:use");
        Set(builder, index, "CertificateSubjects:0", IdentityCertificates.Subject);
        index++;
        Set(builder, index, "Name", PinnedUser);
        Set(builder, index, "Permissions:0", "lock:use");
        Set(builder, index, "CertificateThumbprints:0", Certificates.PinnedThumbprint);
        builder.Properties["Granary:Security:Authorization:ClientCertificateAuthorityFile"] = Certificates.AuthorityFile;
        builder.AddSiloBuilderConfigurator<TestWallConfigurator>();
        return Task.CompletedTask;
    }

    private void Add(TestClusterBuilder builder, ref int index, string name, string[] permissions)
    {
        var token = NewToken();
        _tokens[name] = token;
        Set(builder, index, "Name", name);
        for (var i = 0; i < permissions.Length; i++)
        {
            Set(builder, index, "Permissions:" + i.ToString(CultureInfo.InvariantCulture), permissions[i]);
        }

        Set(builder, index, "TokenSha256", IdentityTable.HashHex(token));
        index++;
    }

    private static void Set(TestClusterBuilder builder, int index, string key, string value) =>
        builder.Properties[$"Granary:Security:Identities:{index.ToString(CultureInfo.InvariantCulture)}:{key}"] = value;

    private static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
}

/// <summary>
/// Records every call on which grain code could still read a client credential in the request
/// context (it must see none: the check takes it out before the grain runs).
/// </summary>
public sealed class CredentialProbe : IIncomingGrainCallFilter
{
    /// <summary>Methods that ran with a credential still in the request context.</summary>
    public ConcurrentQueue<string> Leaks { get; } = new();

    /// <summary>Calls seen.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    private long _calls;

    /// <inheritdoc/>
    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Interlocked.Increment(ref _calls);
        if (RequestContext.Get(ClientCredentials.TokenKey) is not null)
        {
            Leaks.Enqueue(context.InterfaceMethod?.Name ?? context.MethodName);
        }

        return context.Invoke();
    }
}

/// <summary>
/// Registers the <see cref="CredentialProbe"/> after the product's filters, and, when the product has
/// no filter that asks the <see cref="IClientCallAuthorizer"/> yet, a minimal one that does for client
/// calls to methods with a known permission (<see cref="TestPermissions"/>).
/// </summary>
public sealed class TestWallConfigurator : ISiloConfigurator
{
    /// <inheritdoc/>
    public void Configure(ISiloBuilder siloBuilder)
    {
        ArgumentNullException.ThrowIfNull(siloBuilder);
        var services = siloBuilder.Services;
        var productWall = services.Any(d =>
            d.ServiceType == typeof(IIncomingGrainCallFilter)
            && d.ImplementationType is { } type
            && type.Assembly == typeof(IClientCallAuthorizer).Assembly
            && (type.Name.Contains("Wall", StringComparison.Ordinal)
                || type.GetConstructors().Any(c => c.GetParameters().Any(p => p.ParameterType == typeof(IClientCallAuthorizer)))));
        if (!productWall)
        {
            services.AddSingleton<IIncomingGrainCallFilter, MinimalClientCallWall>();
        }

        services.AddSingleton<CredentialProbe>();
        services.AddSingleton<IIncomingGrainCallFilter>(sp => sp.GetRequiredService<CredentialProbe>());
    }
}

/// <summary>A stand-in for the product's wall: asks the authorizer about every client call to a method whose permission is known.</summary>
public sealed class MinimalClientCallWall(IClientCallAuthorizer authorizer) : IIncomingGrainCallFilter
{
    /// <inheritdoc/>
    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.SourceId is { } source && source.Type.IsClient() && context.InterfaceMethod is { } method && TestPermissions.Of(method) is { } permission)
        {
            if (authorizer.Authorize(context, permission, TestPermissions.Describe(method)) is { } denied)
            {
                throw denied;
            }
        }

        return context.Invoke();
    }
}

/// <summary>
/// The permission a method needs: its <see cref="RequiresAttribute"/>, else its interface's, else the
/// value the tests assume for the few methods they call (while the contracts are not yet marked).
/// </summary>
public static class TestPermissions
{
    private static readonly Dictionary<(Type, string), Permission> Assumed = new()
    {
        [(typeof(Granary.Caching.ICacheShardGrain), "ExecuteAsync")] = Permission.CacheWrite,
        [(typeof(Granary.Caching.ICacheDefinitionGrain), "CreateAsync")] = Permission.CacheAdmin,
        [(typeof(Granary.Caching.ICacheDefinitionGrain), "GetAsync")] = Permission.CacheRead,
        [(typeof(Granary.Caching.ICacheDefinitionGrain), "PeekAsync")] = Permission.CacheRead,
        [(typeof(Granary.Queues.IQueuePartitionGrain), "EnqueueAsync")] = Permission.QueueProduce,
        [(typeof(Granary.Queues.IQueueGrain), "GetStatsAsync")] = Permission.QueueConsume,
        [(typeof(Granary.Queues.IQueueGrain), "PurgeDeadLettersAsync")] = Permission.QueueAdmin,
        [(typeof(Granary.Locks.ILockGrain), "GetStatusAsync")] = Permission.LockUse,
        [(typeof(Granary.Transactions.IThreePhaseCommitCoordinatorGrain), "GetStatusAsync")] = Permission.TransactionUse,
        [(typeof(Granary.Scheduling.ITaskGrain), "GetAsync")] = Permission.TaskSubmit,
        [(typeof(Granary.Scheduling.IWorkerGrain), "GetInfoAsync")] = Permission.TaskWork,
        [(typeof(Granary.Scheduling.ITaskGrain), "CancelAsync")] = Permission.TaskAdmin,
        [(typeof(Granary.Diagnostics.IClusterStatsGrain), "GetAsync")] = Permission.ClusterRead,
    };

    /// <summary>The permission <paramref name="method"/> needs, or null when neither marked nor assumed.</summary>
    public static Permission? Of(MethodInfo method)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.GetCustomAttribute<RequiresAttribute>() is { } own)
        {
            return own.Permission;
        }

        if (method.DeclaringType?.GetCustomAttribute<RequiresAttribute>() is { } byInterface)
        {
            return byInterface.Permission;
        }

        return method.DeclaringType is { } type && Assumed.TryGetValue((type, method.Name), out var assumed) ? assumed : null;
    }

    /// <summary><c>Interface.Method</c>.</summary>
    public static string Describe(MethodInfo method)
    {
        ArgumentNullException.ThrowIfNull(method);
        return $"{method.DeclaringType?.Name}.{method.Name}";
    }
}
