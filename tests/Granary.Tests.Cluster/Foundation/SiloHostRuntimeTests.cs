using Granary.Server;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>The silo process's runtime settings: socket completions inline unless the deployment chose.</summary>
public sealed class SiloHostRuntimeTests
{
    private const string Variable = GranarySiloHost.InlineSocketCompletionsVariable;

    [Fact]
    public void Inline_socket_completions_are_turned_on_when_the_environment_does_not_name_them()
    {
        var saved = Environment.GetEnvironmentVariable(Variable);
        try
        {
            Environment.SetEnvironmentVariable(Variable, null);

            GranarySiloHost.PreferInlineSocketCompletions();

            Assert.Equal("1", Environment.GetEnvironmentVariable(Variable));
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, saved);
        }
    }

    [Fact]
    public void A_deployment_that_names_the_variable_keeps_its_value()
    {
        var saved = Environment.GetEnvironmentVariable(Variable);
        try
        {
            Environment.SetEnvironmentVariable(Variable, "0");

            GranarySiloHost.PreferInlineSocketCompletions();

            Assert.Equal("0", Environment.GetEnvironmentVariable(Variable));
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, saved);
        }
    }
}
