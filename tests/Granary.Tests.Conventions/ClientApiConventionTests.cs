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
        Assert.True(missing.Count == 0, $"{missing.Count} public async methods without a CancellationToken:\n" + string.Join('\n', missing));
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
