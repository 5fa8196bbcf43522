using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Pipeline;

namespace ReverseSD.MLNet.Tests.Evaluation;

public sealed class SignedDifferenceTests
{
    [Theory]
    [InlineData(0.0, "0.0000")]
    [InlineData(-1e-9, "0.0000")]
    [InlineData(-0.00001, "0.0000")]
    [InlineData(0.00004, "0.0000")]
    [InlineData(0.01234, "+0.0123")]
    [InlineData(-0.01236, "-0.0124")]
    [InlineData(double.NaN, "-")]
    public void ShowsItsSignAndAZeroWithoutOne(double value, string expected) =>
        Assert.Equal(expected, SignedDifference.Format(value));

    [Fact]
    public void TheHeadsAblationTablePrintsANegativeDifferenceWithOneMinusAndOneThatRoundsToZeroWithoutASign()
    {
        var result = new HeadsAblationResult
        {
            Rows =
            [
                new HeadsAblationRow("vanilla", [0.5], 0.5, double.NaN, null, 1),
                new HeadsAblationRow("+ MLC", [0.49999], 0.49999, double.NaN, new PairedTTestResult(-0.1, 9, 0.9, -0.00001), 1),
                new HeadsAblationRow("+ MLC + CL", [0.4876], 0.4876, double.NaN, new PairedTTestResult(-2, 9, 0.07, -0.01236), 1),
            ],
            Seeds = [1],
            NTest = 10,
            BaselineMeanCosine = 0.4,
            Options = new Dictionary<string, string>(),
        };

        string table = result.ToMarkdown();

        Assert.Contains("Δ = 0.0000, t = -0.10", table, StringComparison.Ordinal);
        Assert.Contains("Δ = -0.0124, t = -2.00", table, StringComparison.Ordinal);
        Assert.DoesNotContain("-+", table, StringComparison.Ordinal);
    }
}
