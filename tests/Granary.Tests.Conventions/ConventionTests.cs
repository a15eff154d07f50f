using System.Reflection;
using Orleans;

namespace Granary.Tests.Conventions;

/// <summary>
/// Conventions of the product assemblies, checked by reflection: public types are sealed unless
/// made to be derived from, namespaces match assemblies, every grain class names its grain type and
/// every type Orleans serializes has a stable alias.
/// </summary>
public sealed class ConventionTests
{
    /// <summary>
    /// Public classes made to be derived from, with the reason. Everything else public is sealed (or
    /// static or abstract), so a type nobody designed for inheritance cannot be subclassed by accident.
    /// </summary>
    private static readonly Dictionary<string, string> DesignedForInheritance = new(StringComparer.Ordinal)
    {
        ["Granary.Errors.GranaryException"] = "the base of every typed error: each family derives its own, and it is thrown as-is with a stable code",
        ["Granary.Locks.LockException"] = "the base of the lock family's typed errors, so a caller can catch any lock error at once",
        ["Granary.Transactions.ParticipantState"] = "the state every transaction participant (account, inventory, coupon, scripted) extends with its own fields",
    };

    [Fact]
    public void Public_classes_are_sealed_unless_static_abstract_or_designed_for_inheritance()
    {
        var unsealed = ProductAssemblies.All
            .SelectMany(a => ProductAssemblies.PublicTypes(a.Assembly))
            .Where(t => t.IsClass && !t.IsAbstract && !t.IsSealed && !DesignedForInheritance.ContainsKey(t.FullName!))
            .Select(t => t.FullName!)
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.True(unsealed.Count == 0, "public classes neither sealed, static, abstract nor listed as designed for inheritance: " + string.Join(", ", unsealed));
    }

    [Fact]
    public void The_inheritance_list_names_only_unsealed_public_classes_that_exist()
    {
        var publicTypes = ProductAssemblies.All
            .SelectMany(a => ProductAssemblies.PublicTypes(a.Assembly))
            .ToDictionary(t => t.FullName!, StringComparer.Ordinal);
        var stale = DesignedForInheritance.Keys
            .Where(name => !publicTypes.TryGetValue(name, out var type) || type.IsSealed)
            .ToList();

        Assert.True(stale.Count == 0, "listed as designed for inheritance but missing or sealed: " + string.Join(", ", stale));
    }

    [Fact]
    public void Every_type_lives_under_its_assemblys_root_namespace_and_not_under_another_assemblys()
    {
        var misplaced = new List<string>();
        foreach (var (assembly, root) in ProductAssemblies.All)
        {
            foreach (var type in ProductAssemblies.WrittenTypes(assembly))
            {
                var ns = type.Namespace ?? string.Empty;
                var underRoot = ns == root || ns.StartsWith(root + ".", StringComparison.Ordinal);
                var foreign = ProductAssemblies.OwnedNamespaces
                    .Where(owned => owned != root)
                    .Any(owned => ns == owned || ns.StartsWith(owned + ".", StringComparison.Ordinal));
                if (!underRoot || foreign)
                {
                    misplaced.Add($"{type.FullName} in {assembly.GetName().Name} (namespace '{ns}', expected under '{root}')");
                }
            }
        }

        Assert.True(misplaced.Count == 0, "types outside their assembly's namespace: " + string.Join("; ", misplaced));
    }

    [Fact]
    public void Every_grain_class_declares_its_grain_type()
    {
        var grainClasses = ProductAssemblies.AllWrittenTypes()
            .Where(t => t.IsClass && !t.IsAbstract && (typeof(IGrain).IsAssignableFrom(t) || typeof(IGrainBase).IsAssignableFrom(t)))
            .ToList();
        var missing = grainClasses
            .Where(t => t.GetCustomAttribute<GrainTypeAttribute>() is null)
            .Select(t => t.FullName!)
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.NotEmpty(grainClasses);
        Assert.True(missing.Count == 0, "grain classes without [GrainType] (their grain type name is stored in every grain id: pin it): " + string.Join(", ", missing));
    }

    [Fact]
    public void Grain_type_names_are_unique()
    {
        var duplicates = ProductAssemblies.AllWrittenTypes()
            .Select(t => (Type: t, Name: t.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType == typeof(GrainTypeAttribute))?.ConstructorArguments[0].Value as string))
            .Where(x => x.Name is not null)
            .GroupBy(x => x.Name!, StringComparer.Ordinal)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(x => x.Type.FullName))}")
            .ToList();

        Assert.True(duplicates.Count == 0, "grain type names used twice: " + string.Join("; ", duplicates));
    }

    [Fact]
    public void Every_serialized_type_has_an_alias() => AssertEveryOneHasAnAlias(
        t => t.IsDefined(typeof(GenerateSerializerAttribute), inherit: false),
        "[GenerateSerializer] types without [Alias] (the alias is their wire name: it must not follow a rename)");

    [Fact]
    public void Every_grain_and_observer_interface_has_an_alias() => AssertEveryOneHasAnAlias(
        t => t.IsInterface && typeof(IAddressable).IsAssignableFrom(t),
        "grain or observer interfaces without [Alias] (the alias names the interface on the wire)");

    [Fact]
    public void Aliases_of_serialized_types_are_unique()
    {
        var duplicates = ProductAssemblies.AllWrittenTypes()
            .Where(t => t.IsDefined(typeof(GenerateSerializerAttribute), inherit: false))
            .SelectMany(t => t.GetCustomAttributes<AliasAttribute>(inherit: false).Select(a => (Type: t, a.Alias)))
            .GroupBy(x => x.Alias, StringComparer.Ordinal)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(x => x.Type.FullName))}")
            .ToList();

        Assert.True(duplicates.Count == 0, "aliases used by more than one type: " + string.Join("; ", duplicates));
    }

    private static void AssertEveryOneHasAnAlias(Func<Type, bool> selected, string failure)
    {
        var types = ProductAssemblies.AllWrittenTypes().Where(selected).ToList();
        var missing = types
            .Where(t => !t.IsDefined(typeof(AliasAttribute), inherit: false))
            .Select(t => t.FullName!)
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.NotEmpty(types);
        Assert.True(missing.Count == 0, failure + ": " + string.Join(", ", missing));
    }
}
