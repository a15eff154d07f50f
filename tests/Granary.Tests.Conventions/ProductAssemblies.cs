using System.CodeDom.Compiler;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace Granary.Tests.Conventions;

/// <summary>
/// The assemblies Granary ships, each with the namespace its types live under, and the types of
/// them that the conventions apply to: everything written in this repository, nothing a compiler
/// or source generator emitted (Orleans' codecs and proxies, nullable attributes, regex engines).
/// </summary>
internal static class ProductAssemblies
{
    /// <summary>
    /// Assembly name -> root namespace. Core, Contracts and Grains are the layers of the families and
    /// share the family namespaces (<c>Granary.Locks</c> holds the lock state machine, its contracts
    /// and its grain, as <c>Orleans.Runtime</c> spans several Orleans assemblies); the host, the SDK
    /// and the console each own a namespace of their own that no other assembly uses.
    /// </summary>
    public static IReadOnlyList<(Assembly Assembly, string RootNamespace)> All { get; } =
    [
        (Assembly.Load("Granary.Core"), "Granary"),
        (Assembly.Load("Granary.Contracts"), "Granary"),
        (Assembly.Load("Granary.Grains"), "Granary"),
        (Assembly.Load("Granary.Server"), "Granary.Server"),
        (Assembly.Load("Granary.Client"), "Granary.Client"),
        (Assembly.Load("granary"), "Granary.Cli"),
    ];

    /// <summary>Namespaces owned by one assembly: no other assembly may put a type under them.</summary>
    public static IReadOnlyList<string> OwnedNamespaces { get; } = ["Granary.Server", "Granary.Client", "Granary.Cli", "Granary.Silo"];

    /// <summary>Every type written in the repository, public or not, nested ones included.</summary>
    public static IEnumerable<Type> WrittenTypes(Assembly assembly) =>
        assembly.GetTypes().Where(IsWritten);

    /// <summary>The written types other assemblies can see.</summary>
    public static IEnumerable<Type> PublicTypes(Assembly assembly) =>
        assembly.GetExportedTypes().Where(IsWritten);

    /// <summary>Every written type of every product assembly.</summary>
    public static IEnumerable<Type> AllWrittenTypes() => All.SelectMany(a => WrittenTypes(a.Assembly));

    private static bool IsWritten(Type type)
    {
        for (var t = type; t is not null; t = t.DeclaringType)
        {
            if (t.Name.Contains('<', StringComparison.Ordinal)
                || t.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false)
                || t.IsDefined(typeof(GeneratedCodeAttribute), inherit: false)
                || (t.Namespace ?? string.Empty).StartsWith("OrleansCodeGen", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}
