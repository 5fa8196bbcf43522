using ReverseSD.Serving;

namespace ReverseSD.MLNet.Tests.Serving;

public sealed class ServeLoadTestTests
{
    [Theory]
    [InlineData("http://example.com:5000/")]
    [InlineData("http://10.0.0.7:5000/")]
    [InlineData("http://192.168.1.20/")]
    public async Task RefusesAServerThatIsNotOnThisMachineBeforeSendingAnything(string address)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            ServeLoadTest.RunAsync(new Uri(address), [[1, 2, 3]], requests: 1, concurrency: 1));

        Assert.Equal("baseAddress", error.ParamName);
        Assert.Contains("not a loopback address", error.Message, StringComparison.Ordinal);
    }
}
