using System.IO.Compression;
using Google.Protobuf;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Onnx.Proto;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>
/// A backbone graph read back from a model zip's entry (what the fast path scores with), and the placeholder graph ML.NET
/// loads in its place when the chain's backbone stage never runs (<see cref="ModelImageScorer.LoadForScoring"/>).
/// </summary>
internal sealed record SavedBackboneGraph(ComposedBackbone Composed, byte[] Placeholder)
{
    /// <summary>Reads the graph an OnnxTransformer saved in <paramref name="entryName"/>; null when it is not a backbone with output <paramref name="featuresColumn"/>.</summary>
    public static SavedBackboneGraph? Read(string zipPath, string entryName, string featuresColumn)
    {
        byte[]? bytes;
        using (PhaseTimes.Measure("fast path: read the backbone graph (a worker thread)"))
        using (var archive = ZipFile.OpenRead(zipPath))
        {
            var entry = archive.GetEntry(entryName);
            if (entry == null) return null;
            using var stream = entry.Open();
            bytes = ReadOnnxModelEntry(stream, entry.Length);
        }
        if (bytes == null) return null;
        using var _ = PhaseTimes.Measure("fast path: read the backbone graph's inputs, outputs and metadata (a worker thread)");
        var header = ReadHeader(bytes);
        var composed = header == null ? null : ImageBackbone.ReadComposed(header, bytes);
        return composed == null || composed.OutputName != featuresColumn ? null : new SavedBackboneGraph(composed, PlaceholderOf(header!, composed));
    }

    /// <summary>The backbone an OnnxTransformer's saved graph holds (see <see cref="Read"/>), read from the entry's stream.</summary>
    public static ComposedBackbone? Describe(Stream entry, long entryLength)
    {
        byte[]? bytes = ReadOnnxModelEntry(entry, entryLength);
        return bytes != null && ReadHeader(bytes) is { } header ? ImageBackbone.ReadComposed(header, bytes) : null;
    }

    /// <summary>An OnnxTransformer writes its graph as "OnnxModel": a 4-byte length, then the ONNX bytes; null when the entry is not that.</summary>
    private static byte[]? ReadOnnxModelEntry(Stream stream, long entryLength)
    {
        using var reader = new BinaryReader(stream);
        int length = reader.ReadInt32();
        if (length <= 0 || length != entryLength - 4) return null;
        byte[] bytes = reader.ReadBytes(length);
        return bytes.Length == length ? bytes : null;
    }

    /// <summary>Parses only <see cref="ModelHeader"/>'s fields; the rest (nodes, weights) is skipped without a copy.</summary>
    private static readonly MessageParser<ModelHeader> HeaderParser = ModelHeader.Parser.WithDiscardUnknownFields(true);

    /// <summary>
    /// The parts of an ONNX model that describe a backbone (IR version, opsets, metadata, the graph's inputs, outputs and
    /// initializer names) without its weights and nodes: parsing a whole 64 MB graph copies every weight, and ONNX Runtime
    /// parses it again anyway. Null when <paramref name="onnxModel"/> is not a well-formed protobuf message (or has no graph).
    /// </summary>
    internal static ModelProto? ReadHeader(ReadOnlySpan<byte> onnxModel)
    {
        try
        {
            var header = HeaderParser.ParseFrom(onnxModel);
            // The header's fields carry ModelProto's numbers, so its bytes are a ModelProto with only those fields.
            return header.Graph == null ? null : ModelProto.Parser.ParseFrom(header.ToByteArray());
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }

    /// <summary>
    /// A graph with the backbone's input and output (names, types, shapes) whose output is a constant [1, features]: what
    /// ML.NET needs to load the backbone stage and give the stages after it their input schema.
    /// </summary>
    private static byte[] PlaceholderOf(ModelProto backbone, ComposedBackbone composed)
    {
        var output = backbone.Graph.Output[0];
        var constant = new TensorProto { Name = "placeholder_features", DataType = (int)TensorProto.Types.DataType.Float };
        constant.Dims.AddRange(new long[] { 1, composed.FeatureSize });
        constant.FloatData.AddRange(new float[composed.FeatureSize]);
        var graph = new GraphProto { Name = "backbone placeholder" };
        graph.Input.Add(backbone.Graph.Input.First(i => i.Name == composed.InputName).Clone());
        graph.Output.Add(output.Clone());
        graph.Initializer.Add(constant);
        graph.Node.Add(new NodeProto { OpType = "Identity", Input = { constant.Name }, Output = { output.Name } });
        var model = new ModelProto { IrVersion = backbone.IrVersion, ProducerName = "reversesd", Graph = graph };
        model.OpsetImport.AddRange(backbone.OpsetImport.Select(o => o.Clone()));
        return model.ToByteArray();
    }
}
