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

    /// <summary>
    /// The parts of an ONNX model that describe a backbone (IR version, opsets, metadata, the graph's inputs, outputs and
    /// initializer names) without its weights and nodes: parsing a whole 64 MB graph copies every weight, and ONNX Runtime
    /// parses it again anyway. Null when <paramref name="onnxModel"/> is not a well-formed protobuf message (or has no graph).
    /// </summary>
    internal static ModelProto? ReadHeader(ReadOnlySpan<byte> onnxModel)
    {
        try
        {
            var model = new ModelProto();
            var fields = new ProtoFields(onnxModel);
            while (fields.MoveNext())
            {
                switch (fields.Number)
                {
                    case 1 when fields.Type == WireFormat.WireType.Varint: model.IrVersion = (long)fields.Varint; break;
                    case 7 when fields.Type == WireFormat.WireType.LengthDelimited: model.Graph = ReadGraphHeader(fields.Payload); break;
                    case 8 when fields.Type == WireFormat.WireType.LengthDelimited: model.OpsetImport.Add(OperatorSetIdProto.Parser.ParseFrom(fields.Payload)); break;
                    case 14 when fields.Type == WireFormat.WireType.LengthDelimited: model.MetadataProps.Add(StringStringEntryProto.Parser.ParseFrom(fields.Payload)); break;
                }
            }
            return model.Graph == null ? null : model;
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidDataException)
        {
            return null;
        }
    }

    private static GraphProto ReadGraphHeader(ReadOnlySpan<byte> graphBytes)
    {
        var graph = new GraphProto();
        var fields = new ProtoFields(graphBytes);
        while (fields.MoveNext())
        {
            if (fields.Type != WireFormat.WireType.LengthDelimited) continue;
            switch (fields.Number)
            {
                case 5: graph.Initializer.Add(new TensorProto { Name = ReadTensorName(fields.Payload) }); break;
                case 11: graph.Input.Add(ValueInfoProto.Parser.ParseFrom(fields.Payload)); break;
                case 12: graph.Output.Add(ValueInfoProto.Parser.ParseFrom(fields.Payload)); break;
            }
        }
        return graph;
    }

    /// <summary>A TensorProto's name (field 8), its data skipped.</summary>
    private static string ReadTensorName(ReadOnlySpan<byte> tensorBytes)
    {
        var fields = new ProtoFields(tensorBytes);
        while (fields.MoveNext())
            if (fields.Number == 8 && fields.Type == WireFormat.WireType.LengthDelimited)
                return System.Text.Encoding.UTF8.GetString(fields.Payload);
        return "";
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

    /// <summary>The fields of one protobuf message in wire order: number, wire type, and the value or the payload's bytes.</summary>
    private ref struct ProtoFields(ReadOnlySpan<byte> message)
    {
        private readonly ReadOnlySpan<byte> _message = message;
        private int _position;

        public int Number { get; private set; }

        public WireFormat.WireType Type { get; private set; }

        /// <summary>The value of a varint field.</summary>
        public ulong Varint { get; private set; }

        /// <summary>The bytes of a length-delimited field.</summary>
        public ReadOnlySpan<byte> Payload { get; private set; }

        public bool MoveNext()
        {
            if (_position >= _message.Length) return false;
            ulong tag = ReadVarint();
            Number = tag >> 3 is > 0 and <= int.MaxValue ? (int)(tag >> 3) : throw new InvalidDataException($"Invalid field number {tag >> 3}.");
            Type = (WireFormat.WireType)(tag & 7);
            Payload = default;
            switch (Type)
            {
                case WireFormat.WireType.Varint:
                    Varint = ReadVarint();
                    break;
                case WireFormat.WireType.Fixed64:
                    Skip(8);
                    break;
                case WireFormat.WireType.Fixed32:
                    Skip(4);
                    break;
                case WireFormat.WireType.LengthDelimited:
                    ulong length = ReadVarint();
                    if (length > (ulong)(_message.Length - _position)) throw new InvalidDataException("A field runs past the end of its message.");
                    Payload = _message.Slice(_position, (int)length);
                    _position += (int)length;
                    break;
                default:
                    throw new InvalidDataException($"Unsupported wire type {Type}.");
            }
            return true;
        }

        private void Skip(int bytes)
        {
            if (bytes > _message.Length - _position) throw new InvalidDataException("A field runs past the end of its message.");
            _position += bytes;
        }

        private ulong ReadVarint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_position >= _message.Length) throw new InvalidDataException("A varint runs past the end of its message.");
                byte b = _message[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return value;
            }
            throw new InvalidDataException("A varint is longer than 10 bytes.");
        }
    }
}
